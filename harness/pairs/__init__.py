"""Preference-pair builders: IPR (outcome + step), StepAgent, ETO."""
