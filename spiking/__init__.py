"""Convert a trained network into a spiking one (spikingjelly 2.x), evaluate it, count its work."""
