"""What every warehouse table is: its meaning, its columns, and which columns carry personal data."""
