"""What people read: the HTML report and SQL questions over the stored data."""
