"""The ledger list: the asset that registers ledgers as partitions, its refresh job and sensor."""
