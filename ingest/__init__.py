"""Landing → raw → staged: reading deliveries, normalising values, accounting for every row."""
