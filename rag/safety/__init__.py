"""What keeps the machine from answering what a person must: the triage of
sensitive messages (crisis, harassment, medical, legal, HR) and its trained model,
the detector of instructions hidden in documents, and the guard against jailbreaks,
claims to be human and foreign links.
"""
