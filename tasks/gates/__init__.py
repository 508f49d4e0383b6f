"""Go/no-go gates: evaluate declared gates, score them and give the release verdict."""
