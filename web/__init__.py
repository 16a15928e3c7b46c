"""The families web page that embeds the chat widget."""
