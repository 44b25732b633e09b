-- What the last completed copy found, so every view can say whether it is whole: the total
-- WordPress.com reported, the rows the copy holds, and a sentence on how the pages came back.
ALTER TABLE key_syncs ADD COLUMN reported_total BIGINT;
ALTER TABLE key_syncs ADD COLUMN copied_rows BIGINT;
ALTER TABLE key_syncs ADD COLUMN copy_note TEXT;
