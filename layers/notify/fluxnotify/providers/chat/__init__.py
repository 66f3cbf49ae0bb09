"""Chat providers: messages for people in a channel or room."""
