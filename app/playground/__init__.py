"""The Playground view: type a prompt, watch its cost, tier, cache outcome and tokens live; conversations and answer feedback."""
