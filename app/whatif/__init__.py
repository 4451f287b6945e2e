"""The What-if view: the recorded history replayed under a draft configuration."""
