-- Triggers, created after the schema is migrated (they name columns an older schema lacks).

-- entities.linked_items counts the item_entities rows of each entity. Triggers keep it in the
-- same transaction as the link rows themselves, whichever statement writes them; an ignored
-- INSERT OR IGNORE fires nothing.
CREATE TRIGGER IF NOT EXISTS item_entities_count_insert AFTER INSERT ON item_entities
BEGIN
    UPDATE entities SET linked_items = linked_items + 1 WHERE rowid = NEW.entity_rowid;
END;
CREATE TRIGGER IF NOT EXISTS item_entities_count_delete AFTER DELETE ON item_entities
BEGIN
    UPDATE entities SET linked_items = linked_items - 1 WHERE rowid = OLD.entity_rowid;
END;
