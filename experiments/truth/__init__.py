"""Where and how well is truth represented? truth_sweep, polarity, transfer, truthfulqa, token_view."""
