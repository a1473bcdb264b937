"""Turning retrieved passages into a cited reply: the extractive answerer (the
default) and generative ones through LangChain, the sentence scorer, the rule that
abstains when the documents lack the question's specifics, citation checks and prompts.
"""
