//! WBXML 1.1-1.3 reader and writer (WAP-192-WBXML).
