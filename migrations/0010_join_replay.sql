ALTER TABLE "workloads" ADD COLUMN "join_key_hash" text;--> statement-breakpoint
CREATE UNIQUE INDEX "workloads_join_key_idx" ON "workloads" USING btree ("join_token_id","join_key_hash");