"""Measure the energy and carbon of training and log the NATURE metric."""
