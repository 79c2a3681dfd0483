"""ROS 2 side: nodes, message conversion, QoS. The only package that imports rclpy."""
