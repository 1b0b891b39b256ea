"""Reads raw messages (file paths as arguments) and prints them as JSON,
one per line: the headers, the text body decoded, and each attachment
(file name, content type, and its text for text/* parts, else its size)."""
import email
import email.policy
import json
import sys

for path in sys.argv[1:]:
    with open(path, "rb") as file:
        message = email.message_from_binary_file(file, policy=email.policy.default)
    text, attachments = None, []
    for part in message.walk():
        if part.is_multipart():
            continue
        if part.get_filename():
            content = part.get_content()
            entry = {"filename": part.get_filename(), "content_type": part.get_content_type()}
            if isinstance(content, str):
                entry["text"] = content
            else:
                entry["size"] = len(content)
                entry["starts"] = content[:8].decode("latin-1")
            attachments.append(entry)
        elif part.get_content_type() == "text/plain" and text is None:
            text = part.get_content()
    headers = {name.lower(): str(value) for name, value in message.items()}
    print(json.dumps({"headers": headers, "text": text, "attachments": attachments}))
