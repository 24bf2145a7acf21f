"""Training stages on TRL: SFT (assistant-only loss) and preference training (IPR mixture loss)."""
