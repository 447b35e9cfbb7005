// Keeps every library target non-empty while a folder has no sources yet.
