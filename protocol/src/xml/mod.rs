//! XML reader and writer for SyncML DM documents, on quick-xml.
