"""What the report pages show: figures, findings and what a page needs from a results folder."""
