ALTER TABLE `coupon_events` ADD `webhook_status` varchar(16);--> statement-breakpoint
ALTER TABLE `coupon_issues` ADD `voided_at` datetime(3);--> statement-breakpoint
ALTER TABLE `coupon_issues` ADD `void_reason` varchar(200);--> statement-breakpoint
ALTER TABLE `webhook_outbox` ADD `type` varchar(32) DEFAULT 'coupon.issued' NOT NULL;