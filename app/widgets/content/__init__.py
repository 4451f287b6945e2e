"""What a request carries beyond its text, as the Playground and Compare edit it: tool definitions and the tool choice, JSON output, attached images, and the reply's tool calls as cards."""
