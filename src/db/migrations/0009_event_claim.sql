ALTER TABLE `coupon_events` ADD `claim` varchar(10) DEFAULT 'manual' NOT NULL;--> statement-breakpoint
ALTER TABLE `coupon_events` ADD `slot_seconds` int;--> statement-breakpoint
ALTER TABLE `coupon_events` ADD `grace_seconds` int;