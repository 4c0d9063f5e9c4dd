"""The realtime gateway: socket.io rooms per live stream, scaled out over Redis."""
