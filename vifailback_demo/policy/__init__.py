"""The VLA link: an openpi-compatible websocket client and server, and the built-in policy of the simulated robot."""
