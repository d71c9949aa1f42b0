-- Schema version 6: what the management API shows of a repository besides its
-- artifacts: a description, and how often its manifests were pulled.
ALTER TABLE repositories ADD COLUMN description TEXT NOT NULL DEFAULT '';
ALTER TABLE repositories ADD COLUMN pull_count BIGINT NOT NULL DEFAULT 0;
