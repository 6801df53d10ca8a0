CREATE TABLE `raft_entries` (
	`idx` integer PRIMARY KEY NOT NULL,
	`term` integer NOT NULL,
	`type` text NOT NULL,
	`data` blob NOT NULL
);
