"""The Gradio web app. Imports only rag."""
