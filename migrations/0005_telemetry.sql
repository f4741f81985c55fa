CREATE TABLE "telemetry_batches" (
	"tenant_id" uuid NOT NULL,
	"proxy_id" uuid NOT NULL,
	"seq" bigint NOT NULL,
	"received_at" timestamp (3) with time zone NOT NULL,
	CONSTRAINT "telemetry_batches_tenant_id_proxy_id_seq_pk" PRIMARY KEY("tenant_id","proxy_id","seq")
);
--> statement-breakpoint
CREATE TABLE "telemetry_hours" (
	"tenant_id" uuid NOT NULL,
	"bucket_start" timestamp (3) with time zone NOT NULL,
	"reporter" text NOT NULL,
	"source" text NOT NULL,
	"destination" text NOT NULL,
	"route" text NOT NULL,
	"status_class" text NOT NULL,
	"reason" text NOT NULL,
	"requests" bigint NOT NULL,
	"latency_buckets" bigint[] NOT NULL,
	"latency_sum_seconds" double precision NOT NULL,
	CONSTRAINT "telemetry_hours_pkey" PRIMARY KEY("tenant_id","bucket_start","reporter","source","destination","route","status_class","reason"),
	CONSTRAINT "telemetry_hours_reporter_check" CHECK ("telemetry_hours"."reporter" in ('inbound', 'outbound'))
);
--> statement-breakpoint
CREATE TABLE "telemetry_minutes" (
	"tenant_id" uuid NOT NULL,
	"bucket_start" timestamp (3) with time zone NOT NULL,
	"reporter" text NOT NULL,
	"source" text NOT NULL,
	"destination" text NOT NULL,
	"route" text NOT NULL,
	"status_class" text NOT NULL,
	"reason" text NOT NULL,
	"requests" bigint NOT NULL,
	"latency_buckets" bigint[] NOT NULL,
	"latency_sum_seconds" double precision NOT NULL,
	CONSTRAINT "telemetry_minutes_pkey" PRIMARY KEY("tenant_id","bucket_start","reporter","source","destination","route","status_class","reason"),
	CONSTRAINT "telemetry_minutes_reporter_check" CHECK ("telemetry_minutes"."reporter" in ('inbound', 'outbound'))
);
--> statement-breakpoint
ALTER TABLE "telemetry_batches" ADD CONSTRAINT "telemetry_batches_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "telemetry_hours" ADD CONSTRAINT "telemetry_hours_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "telemetry_minutes" ADD CONSTRAINT "telemetry_minutes_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "telemetry_batches_received_idx" ON "telemetry_batches" USING btree ("received_at");--> statement-breakpoint
CREATE INDEX "telemetry_hours_bucket_idx" ON "telemetry_hours" USING btree ("bucket_start");--> statement-breakpoint
CREATE INDEX "telemetry_minutes_bucket_idx" ON "telemetry_minutes" USING btree ("bucket_start");