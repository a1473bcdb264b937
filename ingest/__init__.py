"""Turns mentors' files into chunks in the index. Imports only rag's foundation."""
