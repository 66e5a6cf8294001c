"""stress: Monte Carlo stress-testing of critical-mineral supply chains."""
