"""Run records and everything generated from them: tables, plots, interpolation, analysis."""
