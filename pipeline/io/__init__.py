"""File readers and writers (video, frameData, DAQ sync, ALF). Never imports DataJoint."""
