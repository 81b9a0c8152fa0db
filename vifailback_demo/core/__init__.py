"""Core formats: pure Python, no torch, no gradio, no OpenCV.

Symbols, the answer parser, prompts, dataset/VQA records and frame sampling rules live here so that every
other layer (renderer, simulator, diagnoser, UI, training, eval) speaks one language.
"""
