"""Tests of the API client: the wire, pages, retries, hostile servers, the vendor's examples."""
