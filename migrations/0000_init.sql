CREATE TABLE `blocks` (
	`height` integer PRIMARY KEY NOT NULL,
	`hash` text NOT NULL,
	`prev` text NOT NULL,
	`time` integer NOT NULL,
	`term` integer NOT NULL,
	`proposer` text NOT NULL,
	`tx_count` integer NOT NULL,
	`log_size` integer NOT NULL,
	`log_root` text NOT NULL,
	`header` text NOT NULL,
	`entry_index` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `blocks_hash_unique` ON `blocks` (`hash`);--> statement-breakpoint
CREATE TABLE `checkpoint_sigs` (
	`height` integer NOT NULL,
	`site` text NOT NULL,
	`line` text NOT NULL,
	PRIMARY KEY(`height`, `site`)
);
--> statement-breakpoint
CREATE TABLE `merkle_nodes` (
	`level` integer NOT NULL,
	`idx` integer NOT NULL,
	`hash` blob NOT NULL,
	PRIMARY KEY(`level`, `idx`)
);
--> statement-breakpoint
CREATE TABLE `meta` (
	`key` text PRIMARY KEY NOT NULL,
	`value` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `state` (
	`ns` text NOT NULL,
	`key` text NOT NULL,
	`value` text NOT NULL,
	PRIMARY KEY(`ns`, `key`)
);
--> statement-breakpoint
CREATE TABLE `txs` (
	`id` text PRIMARY KEY NOT NULL,
	`log_index` integer NOT NULL,
	`height` integer NOT NULL,
	`kind` text NOT NULL,
	`envelope` text NOT NULL,
	`result` text NOT NULL,
	`status` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `txs_log_index_unique` ON `txs` (`log_index`);--> statement-breakpoint
CREATE INDEX `txs_height` ON `txs` (`height`);