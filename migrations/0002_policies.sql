CREATE TABLE "filter_blobs" (
	"tenant_id" uuid NOT NULL,
	"sha256" text NOT NULL,
	"bytes" "bytea" NOT NULL,
	"size" integer NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "filter_blobs_tenant_id_sha256_pk" PRIMARY KEY("tenant_id","sha256")
);
--> statement-breakpoint
CREATE TABLE "filters" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"name" text NOT NULL,
	"version" text NOT NULL,
	"sha256" text NOT NULL,
	"size" integer NOT NULL,
	"abi_version" text NOT NULL,
	"created_by" jsonb NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "policies" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"name" text NOT NULL,
	"kind" text NOT NULL,
	"target_service" text NOT NULL,
	"spec" jsonb NOT NULL,
	"version" integer NOT NULL,
	"revision" bigint NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "policies_kind_check" CHECK ("policies"."kind" in ('Route', 'BackendPolicy', 'AuthorizationPolicy', 'RateLimitPolicy', 'FaultPolicy', 'FilterChain'))
);
--> statement-breakpoint
CREATE TABLE "policy_versions" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" uuid NOT NULL,
	"name" text NOT NULL,
	"version" integer NOT NULL,
	"operation" text NOT NULL,
	"kind" text NOT NULL,
	"target_service" text NOT NULL,
	"spec" jsonb,
	"revision" bigint NOT NULL,
	"actor" jsonb NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "policy_versions_operation_check" CHECK ("policy_versions"."operation" in ('create', 'update', 'delete', 'rollback'))
);
--> statement-breakpoint
ALTER TABLE "endpoints" ADD COLUMN "expired" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "filter_blobs" ADD CONSTRAINT "filter_blobs_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "filters" ADD CONSTRAINT "filters_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "policies" ADD CONSTRAINT "policies_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "policy_versions" ADD CONSTRAINT "policy_versions_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "filters_tenant_name_version_key" ON "filters" USING btree ("tenant_id","name","version");--> statement-breakpoint
CREATE INDEX "filters_tenant_sha_idx" ON "filters" USING btree ("tenant_id","sha256");--> statement-breakpoint
CREATE UNIQUE INDEX "policies_tenant_name_key" ON "policies" USING btree ("tenant_id","name");--> statement-breakpoint
CREATE INDEX "policies_tenant_target_idx" ON "policies" USING btree ("tenant_id","target_service");--> statement-breakpoint
CREATE UNIQUE INDEX "policy_versions_tenant_name_version_key" ON "policy_versions" USING btree ("tenant_id","name","version");