"""Replay spiking and conventional networks on a memristor-crossbar energy model."""
