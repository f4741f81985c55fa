CREATE TABLE "proxies" (
	"id" uuid PRIMARY KEY NOT NULL,
	"tenant_id" uuid NOT NULL,
	"service_id" uuid NOT NULL,
	"workload_id" uuid,
	"labels" jsonb NOT NULL,
	"runtime" text NOT NULL,
	"applied_revision" bigint NOT NULL,
	"applied_at" timestamp (3) with time zone NOT NULL,
	"first_seen_at" timestamp (3) with time zone NOT NULL,
	"last_seen_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "proxy_revisions" (
	"proxy_id" uuid NOT NULL,
	"tenant_id" uuid NOT NULL,
	"revision" bigint NOT NULL,
	"applied_at" timestamp (3) with time zone NOT NULL,
	CONSTRAINT "proxy_revisions_proxy_id_revision_pk" PRIMARY KEY("proxy_id","revision")
);
--> statement-breakpoint
ALTER TABLE "proxies" ADD CONSTRAINT "proxies_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "proxies" ADD CONSTRAINT "proxies_service_id_services_id_fk" FOREIGN KEY ("service_id") REFERENCES "public"."services"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "proxies" ADD CONSTRAINT "proxies_workload_id_workloads_id_fk" FOREIGN KEY ("workload_id") REFERENCES "public"."workloads"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "proxy_revisions" ADD CONSTRAINT "proxy_revisions_proxy_id_proxies_id_fk" FOREIGN KEY ("proxy_id") REFERENCES "public"."proxies"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "proxy_revisions" ADD CONSTRAINT "proxy_revisions_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "proxies_tenant_seen_idx" ON "proxies" USING btree ("tenant_id","last_seen_at");--> statement-breakpoint
CREATE INDEX "proxy_revisions_tenant_revision_idx" ON "proxy_revisions" USING btree ("tenant_id","revision");--> statement-breakpoint
CREATE INDEX "audit_events_tenant_revision_idx" ON "audit_events" USING btree ("tenant_id","revision");