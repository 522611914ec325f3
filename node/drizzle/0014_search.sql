-- Full-text search (src/search/). One FTS5 table per kind, its rowid the id of the row it indexes.
-- Triggers note every write in `search_pending`, whatever path made it; the node turns the noted rows
-- into text (HTML bodies need a parser SQLite lacks) before it answers a search. A delete takes the
-- row out of the index at once, so nothing deleted is ever found.
CREATE VIRTUAL TABLE `search_records` USING fts5(`text`, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4 5 6');
--> statement-breakpoint
CREATE VIRTUAL TABLE `search_messages` USING fts5(`text`, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4 5 6');
--> statement-breakpoint
CREATE VIRTUAL TABLE `search_ochat` USING fts5(`text`, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3 4 5 6');
--> statement-breakpoint
CREATE TABLE `search_pending` (
	`kind` text NOT NULL,
	`id` integer NOT NULL,
	PRIMARY KEY(`kind`, `id`)
) WITHOUT ROWID;
--> statement-breakpoint
CREATE TRIGGER `search_records_insert` AFTER INSERT ON `records` BEGIN
	INSERT OR IGNORE INTO `search_pending` (`kind`, `id`) VALUES ('record', new.`id`);
END;
--> statement-breakpoint
CREATE TRIGGER `search_records_update` AFTER UPDATE OF `name`, `values` ON `records` BEGIN
	INSERT OR IGNORE INTO `search_pending` (`kind`, `id`) VALUES ('record', new.`id`);
END;
--> statement-breakpoint
CREATE TRIGGER `search_records_delete` AFTER DELETE ON `records` BEGIN
	DELETE FROM `search_records` WHERE `rowid` = old.`id`;
	DELETE FROM `search_pending` WHERE `kind` = 'record' AND `id` = old.`id`;
END;
--> statement-breakpoint
CREATE TRIGGER `search_messages_insert` AFTER INSERT ON `messages` BEGIN
	INSERT OR IGNORE INTO `search_pending` (`kind`, `id`) VALUES ('message', new.`id`);
END;
--> statement-breakpoint
CREATE TRIGGER `search_messages_update` AFTER UPDATE OF `body` ON `messages` BEGIN
	INSERT OR IGNORE INTO `search_pending` (`kind`, `id`) VALUES ('message', new.`id`);
END;
--> statement-breakpoint
CREATE TRIGGER `search_messages_delete` AFTER DELETE ON `messages` BEGIN
	DELETE FROM `search_messages` WHERE `rowid` = old.`id`;
	DELETE FROM `search_pending` WHERE `kind` = 'message' AND `id` = old.`id`;
END;
--> statement-breakpoint
CREATE TRIGGER `search_ochat_insert` AFTER INSERT ON `ochat_messages` BEGIN
	INSERT OR IGNORE INTO `search_pending` (`kind`, `id`) VALUES ('ochat', new.`id`);
END;
--> statement-breakpoint
CREATE TRIGGER `search_ochat_update` AFTER UPDATE OF `html` ON `ochat_messages` BEGIN
	INSERT OR IGNORE INTO `search_pending` (`kind`, `id`) VALUES ('ochat', new.`id`);
END;
--> statement-breakpoint
CREATE TRIGGER `search_ochat_delete` AFTER DELETE ON `ochat_messages` BEGIN
	DELETE FROM `search_ochat` WHERE `rowid` = old.`id`;
	DELETE FROM `search_pending` WHERE `kind` = 'ochat' AND `id` = old.`id`;
END;
--> statement-breakpoint
-- What was written before this migration is indexed like a new write.
INSERT INTO `search_pending` (`kind`, `id`) SELECT 'record', `id` FROM `records`;
--> statement-breakpoint
INSERT INTO `search_pending` (`kind`, `id`) SELECT 'message', `id` FROM `messages`;
--> statement-breakpoint
INSERT INTO `search_pending` (`kind`, `id`) SELECT 'ochat', `id` FROM `ochat_messages`;
