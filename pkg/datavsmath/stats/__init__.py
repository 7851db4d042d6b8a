"""Statistics of finished results: curve forms, curve fitting, learning curves, data needed, quality, breakdown, parity."""
