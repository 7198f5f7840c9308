CREATE TABLE `webhook_outbox` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`event_id` int NOT NULL,
	`body` mediumtext NOT NULL,
	`attempts` int NOT NULL DEFAULT 0,
	`next_attempt_at` datetime(3) NOT NULL,
	`delivered_at` datetime(3),
	`last_error` varchar(500),
	`created_at` datetime(3) NOT NULL,
	CONSTRAINT `webhook_outbox_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
ALTER TABLE `coupon_events` ADD `persisted` int DEFAULT 0 NOT NULL;--> statement-breakpoint
UPDATE `coupon_events` e SET `persisted` = (SELECT COUNT(*) FROM `coupon_issues` i WHERE i.`event_id` = e.`id`);--> statement-breakpoint
ALTER TABLE `coupon_events` ADD `max_waiting` int DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `coupon_events` ADD `queue_opens_at` datetime(3);--> statement-breakpoint
ALTER TABLE `coupon_events` ADD `coupon_valid_until` datetime(3);--> statement-breakpoint
ALTER TABLE `coupon_events` ADD `webhook_url` varchar(2048);--> statement-breakpoint
ALTER TABLE `coupon_events` ADD `paused` boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `coupon_events` ADD `cancelled` boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `coupon_events` ADD `redis_epoch` int DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `coupon_events` ADD `draw_seed` varchar(64);--> statement-breakpoint
ALTER TABLE `coupon_events` ADD `drawn_at` datetime(3);--> statement-breakpoint
-- Rows from before codes existed get 80 random bits in the same grouped form (hex is a subset of the code alphabet).
ALTER TABLE `coupon_issues` ADD `code` varchar(32) CHARACTER SET ascii COLLATE ascii_bin;--> statement-breakpoint
UPDATE `coupon_issues` SET `code` = INSERT(INSERT(INSERT(HEX(RANDOM_BYTES(10)), 16, 0, '-'), 11, 0, '-'), 6, 0, '-') WHERE `code` IS NULL;--> statement-breakpoint
ALTER TABLE `coupon_issues` MODIFY `code` varchar(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL;--> statement-breakpoint
ALTER TABLE `coupon_issues` ADD `redeemed_at` datetime(3);--> statement-breakpoint
ALTER TABLE `coupon_issues` ADD `order_id` varchar(128);--> statement-breakpoint
ALTER TABLE `coupon_issues` ADD CONSTRAINT `uq_code` UNIQUE(`code`);--> statement-breakpoint
CREATE INDEX `ix_due` ON `webhook_outbox` (`delivered_at`,`next_attempt_at`);--> statement-breakpoint
CREATE INDEX `ix_event` ON `webhook_outbox` (`event_id`);--> statement-breakpoint
CREATE INDEX `ix_user` ON `coupon_issues` (`user_id`);