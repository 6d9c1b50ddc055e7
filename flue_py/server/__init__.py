"""HTTP surface: the Durable Streams protocol (`streams.py`) and the app routes. Import-light on purpose."""
