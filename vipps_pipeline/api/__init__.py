"""The Report API: session and limits, tokens, by-date and feed paging, page decoding and
checks, and the errors each failure raises."""
