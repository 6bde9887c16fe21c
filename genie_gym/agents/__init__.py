"""Policies and their training: random, AutoExplore, RF/VAE curiosity (Stable-Baselines3)."""
