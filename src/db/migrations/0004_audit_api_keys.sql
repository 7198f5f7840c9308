CREATE TABLE `admin_audit` (
	`id` bigint unsigned AUTO_INCREMENT NOT NULL,
	`at` datetime(3) NOT NULL,
	`actor` varchar(64) NOT NULL,
	`key_id` int,
	`action` varchar(32) NOT NULL,
	`event_id` int,
	`target` varchar(128),
	`before` mediumtext,
	`after` mediumtext,
	CONSTRAINT `admin_audit_id` PRIMARY KEY(`id`)
);
--> statement-breakpoint
CREATE TABLE `api_keys` (
	`id` int AUTO_INCREMENT NOT NULL,
	`name` varchar(64) NOT NULL,
	`active_name` varchar(64),
	`scopes` varchar(255) NOT NULL,
	`hash` varchar(64) NOT NULL,
	`created_at` datetime(3) NOT NULL,
	`created_by` varchar(64) NOT NULL,
	`last_used_at` datetime(3),
	`revoked_at` datetime(3),
	CONSTRAINT `api_keys_id` PRIMARY KEY(`id`),
	CONSTRAINT `uq_key_hash` UNIQUE(`hash`),
	CONSTRAINT `uq_key_active_name` UNIQUE(`active_name`)
);
--> statement-breakpoint
CREATE INDEX `ix_audit_event` ON `admin_audit` (`event_id`,`id`);