"""The Report API: sessions and retries, tokens, by-date and feed paging, page decoding."""
