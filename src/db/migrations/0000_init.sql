CREATE TABLE `coupon_events` (
	`id` int AUTO_INCREMENT NOT NULL,
	`name` varchar(200) NOT NULL,
	`stock` int NOT NULL,
	`remaining` int NOT NULL,
	`traffic_rpm` int NOT NULL,
	`running_capacity` int NOT NULL,
	`admit_per_second` int NOT NULL,
	`starts_at` datetime(3) NOT NULL,
	`ends_at` datetime(3),
	`closed` boolean NOT NULL DEFAULT false,
	`created_at` datetime(3) NOT NULL,
	CONSTRAINT `coupon_events_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE TABLE `coupon_issues` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`event_id` int NOT NULL,
	`user_id` varchar(64) NOT NULL,
	`issued_at` datetime(3) NOT NULL,
	`stream_id` varchar(40),
	CONSTRAINT `coupon_issues_id` PRIMARY KEY(`id`),
	CONSTRAINT `uq_event_user` UNIQUE(`event_id`,`user_id`)
);
--> statement-breakpoint
CREATE INDEX `ix_event_issued` ON `coupon_issues` (`event_id`,`issued_at`);